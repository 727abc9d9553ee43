"""IKEv2 wire codec (RFC 7296, 7383, 9242, 9370), pure."""
