"""A container's network: its namespace, the bridge, veth pairs, addresses, published ports."""
