# schemathesis hooks for scripts/api-contract (named in api-contract.toml).
import schemathesis

# Log lines go as NDJSON: the body the document gives is a string of lines,
# sent as it is, like text.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
