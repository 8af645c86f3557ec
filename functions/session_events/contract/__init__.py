"""Wire contract: the event's rules and schema, and the OpenAPI document built from them.
rules imports only core/; schema and openapi may read the route tables they describe.
"""
