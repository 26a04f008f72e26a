"""Predictive dialer: outbound campaigns through Asterisk's AMI."""
