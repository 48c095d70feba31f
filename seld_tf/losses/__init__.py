"""Keras losses, by task family."""

from seld_tf.losses.seld import MaskedDoaMSE, seld_loss_weights, seld_losses

__all__ = ["MaskedDoaMSE", "seld_loss_weights", "seld_losses"]
