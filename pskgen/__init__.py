"""pskgen: pre-shared key and spmd.pwd generator."""
