"""Penguin species classifier: the code behind the stages in dvc.yaml."""
