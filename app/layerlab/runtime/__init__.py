"""Running containers: the OCI bundle, the runc/crun adapter and the per-container shim."""
