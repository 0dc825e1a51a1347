"""Serving: the HTTP prediction server (``mlcd serve``) and batch scoring (``mlcd predict``)."""
