"""Shared parts of the contact-centre backend: settings, database, runtime shell."""
