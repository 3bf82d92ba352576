"""Live mode: real processes, real Linux TCP, through a userspace link emulator (or a real network).

``emulator`` runs the namespaces and the forwarder; ``netcheck`` is the netcheck exchange over it.
"""
