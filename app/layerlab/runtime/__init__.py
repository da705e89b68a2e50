"""Running containers and the kernel beneath: the OCI bundle, runc, the shim, cgroups, processes."""
