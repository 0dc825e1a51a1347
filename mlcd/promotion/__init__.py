"""Gated promotion: an image, by digest, through the environments of mlcd.yaml (``deploy:``).

``record`` keeps what runs where as GTO tags; ``checks`` decides whether a version may go; ``targets``
deploy it (docker, kubernetes, webhook); ``promote`` runs the whole promotion, and rollback;
``github`` records it as GitHub Deployments and configures environments; ``evidence`` writes what a
reviewer approves.
"""
