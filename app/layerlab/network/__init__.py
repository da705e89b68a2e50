"""A container's network, as Docker builds it: a network namespace per container, a bridge
per network, a veth pair per endpoint (pyroute2, never the `ip` command).

The API the engine calls (one hook each; see sandbox.py):
- `configure(root, data, mode, container_id_of)` at `create`: `--network` into the record
  (`HostConfig.NetworkMode`, `NetworkSettings.Networks`); `network X not found` otherwise.
- `join(root, data, container_dir, spec)` at `start`, before the spec is written: the
  namespace file `containers/<id>/netns`, leases, links, /etc/hosts; names the namespace
  in the spec's `linux.namespaces` (`host`: none; `container:X`: X's).
- `wait_ready(container_dir)` in the shim before runc runs: the links are made in a
  thread of the start while it goes on (the union, the shim's start-up); this waits.
- `release(container_dir)` wherever a run's leftovers go (`Runtime.release`: the shim's
  exit, `stop`, `kill`, `rm`, a lost shim, `system check --repair`): the namespace file
  (its veths end with it), leases, an idle bridge. Idempotent; imports no pyroute2.
- `settings(data, container_dir)` for `inspect`: Docker 20.10's `NetworkSettings`.
Networks themselves (records, leases, subnets): networks.py; the `network` verbs (connect
and disconnect reach running containers): verbs.py; `system check`'s part: recovery.py.
A bridge is made by the first start on its network and removed a second after its last
container left (idle.py), so a store leaves no link on the host while nothing runs.
Store layout: `networks/<id>/network.json`, `networks/<id>/leases/<ip>`, `networks/lock`.
No NAT and no forwarding are set up: containers reach each other and their gateway.
"""

from layerlab.network.sandbox import configure, join, release, settings, wait_ready

__all__ = ["configure", "join", "release", "settings", "wait_ready"]
