"""Ingress controllers: what they serve (``routes.py``, pure), their nginx configuration
(``nginx.py``, pure) and the controller process inside the controller's pod (``run.py``)."""
