"""The accelerator hardware in Amaranth HDL; imports only the spec and register map from models/."""
