"""ISAKMP/IKEv1 wire codec (RFC 2407, 2408, 2409, 3706, 3947; mode-config, fragments), pure."""
