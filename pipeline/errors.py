"""The platform's errors: each names its cause (file, line, table, numbers) in its message, which
the CLI prints as it is and the flows' alerts carry."""


class PlatformError(RuntimeError):
    pass
