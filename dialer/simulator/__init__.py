"""Simulated customers and agents for the dialer: sipp behind real PJSIP endpoints (run.py),
behaviour per number from one YAML file (plan.py, simulator.yaml)."""
