"""FastAGI: the protocol Asterisk speaks to our IVR server."""
