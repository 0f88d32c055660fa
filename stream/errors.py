"""Every error ces-stream raises on purpose, under one root."""


class CesError(Exception):
    """Root of ces-stream's own errors."""


class SettingsError(CesError):
    """A CES_* variable has a bad value."""


class LocalKafkaError(CesError):
    """The local Apache Kafka broker could not be provisioned, started or stopped."""


class LocalServiceError(CesError):
    """A local server process (Prometheus, Alertmanager, a worker) could not be started or was not ready, or no
    free port was found for it."""


class RegistryError(CesError):
    """The goal registry file is missing, not YAML, or not a valid registry."""


class ContinuityError(CesError):
    """A hole in a partition's offsets could not be read back: the stage must not go on."""


class TopicLayoutError(CesError):
    """A topic ces-stream partitions itself exists with another partition count than CES_TOPIC_PARTITIONS."""


class KafkaAccessError(CesError):
    """No broker of CES_KAFKA_BOOTSTRAP could be reached, or its TLS certificate could not be verified."""


class KafkaAuthenticationError(KafkaAccessError):
    """A broker refused the SASL credentials (user name, password or mechanism)."""
