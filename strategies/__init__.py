"""Ranking strategies: each ranks the eligible channels of one request, best first."""
