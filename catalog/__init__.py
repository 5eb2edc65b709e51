"""The channel catalogue: tags, model facts, tag queries and the tag index.

Plain Python over plain data. Nothing here knows LiteLLM, Redis or SQL; `router_ext` builds
`Channel` objects from LiteLLM deployments and asks this package which channels match.
"""
