"""IVR controller: FastAGI server running YAML voice-navigation flows."""
