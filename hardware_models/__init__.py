"""Chip and device models: RRAM synapses, chip specifications and energy estimation."""
