"""seld_tf: multitask sound event detection, localization and scene analysis in Keras 3."""

from seld_tf.errors import AnnotationError, AudioFileError, AudioFilesError, ConfigError, ModelFileError, SeldTfError

__version__ = "0.1.0"

__all__ = ["AnnotationError", "AudioFileError", "AudioFilesError", "ConfigError", "ModelFileError", "SeldTfError", "__version__"]
