"""Replication risk: metrics, statistics, risk levels and the similarity service."""
