"""The hall simulator (``tongban simulate``): the real service, policy, balancer and estimator on
seeded days, beside the baselines halls use today and the pooled reference (docs/simulator.md)."""
