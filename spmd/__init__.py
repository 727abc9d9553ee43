"""spmd: the security policy daemon, and spmdctl, its control tool."""
