"""Gated promotion: an image, by digest, through the environments of mlcd.yaml (``deploy:``).

``record`` keeps what runs where as GTO tags; ``state`` gathers what a promotion decides on, and
``plan.decide`` makes every decision (the version, the gates, the stage order, the refusals, the rollback
target) as a pure function, helped by ``checks``; ``saga`` runs it (lock, deploy, verify, record, restore
on failure) through the ``targets`` (docker, kubernetes, webhook); ``promotion_pr`` proposes it as a pull
request instead; ``github`` records it as GitHub Deployments and configures environments; ``evidence``
writes what a reviewer approves; ``status`` reads what runs where.
"""
