"""Edits of samples/ikev2-transport.conf that make its CHILD_SA an AH one, or ESP with IPComp."""

from __future__ import annotations

ESP_SA = """sa esp_aes_sha256 {
	sa_protocol esp;"""
AH = (("sa_index esp_aes_sha256;", "sa_index ah_sha256;"),
      (ESP_SA, "sa ah_sha256 { sa_protocol ah; ah_auth_alg { hmac_sha2_384; hmac_sha2_256; }; };\n"
       + ESP_SA))
COMP = (("sa_index esp_aes_sha256;", "sa_index { esp_aes_sha256; comp; };"),
        (ESP_SA, "sa comp { sa_protocol ipcomp; ipcomp_alg { deflate; }; };\n" + ESP_SA))
