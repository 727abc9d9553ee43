"""Suite-wide settings: hypothesis profiles (CI runs at least 10,000 examples per property)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# Daemons the suite starts keep no configuration cache (racoon2.confcache) in the host's run
# directory; the tests of the cache give them a directory of their own.
os.environ.setdefault("RACOON2_CACHE_DIR", "")
