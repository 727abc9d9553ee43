"""Tests against a throwaway MIT Kerberos realm (the ``kdc`` marker)."""
