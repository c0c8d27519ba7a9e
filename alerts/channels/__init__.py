"""Notification channel kinds (one package each) behind registry.py."""
