"""peforge: evaluate a parameterizable DNN accelerator on its RTL (command line and flows)."""
