"""The DynamoDB store: its writes, its reads and the table's definition.
May import core/ and the store port; the only package that imports boto3.
"""
