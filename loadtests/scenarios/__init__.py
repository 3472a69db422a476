"""Locust user classes, one module per kind of client (see ``loadtests/locustfile.py``)."""
