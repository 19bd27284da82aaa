"""The district service: many halls' changes in one PostgreSQL database (docs/district.md).

The halls push; the district never calls a hall. Each hall keeps working alone when the district is
away (docs/architecture.md §District sync).
"""
