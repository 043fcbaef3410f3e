"""What happens to a lab over its life, through the kernel seam: up, down, changes with
rollback, pod ADD/DEL/CHECK, proxy syncs, and the live controller. Each module receives a
``Kernel`` (``kernel/api.py``): the real one, or the in-memory fake in unit tests."""
