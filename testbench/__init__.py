"""Simulation of the exported RTL with Verilator through cocotb, checked against models/."""
