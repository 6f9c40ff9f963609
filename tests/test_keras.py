"""The Keras 3 loss, on Keras' TensorFlow backend."""

from __future__ import annotations

import numpy as np


def test_keras_loss_values_and_a_training_step(tf):
    import keras

    from msssim.keras import MSSSIMLoss

    rng = np.random.default_rng(0)
    target = rng.random((4, 176, 176, 3), dtype=np.float32)
    noisy = np.clip(target + 0.2 * rng.standard_normal(target.shape, dtype=np.float32), 0, 1)
    per_image = 1 - tf.image.ssim_multiscale(tf.constant(noisy), tf.constant(target), 1.0).numpy()
    loss = MSSSIMLoss()(target, noisy)
    np.testing.assert_allclose(float(loss), per_image.mean(), rtol=0, atol=1e-5)
    none = MSSSIMLoss(reduction=None)(target, noisy)
    np.testing.assert_allclose(np.asarray(none), per_image, rtol=0, atol=1e-5)

    keras.utils.set_random_seed(0)
    inputs = keras.Input((176, 176, 3))
    outputs = keras.layers.Add()([inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs)])
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MSSSIMLoss())
    history = model.fit(noisy, target, epochs=5, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    # Three images in batches of two: the last batch is smaller, and Keras traces an unknown batch dim.
    history = model.fit(noisy[:3], target[:3], epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_allclose(
        model.evaluate(noisy[:3], target[:3], batch_size=2, verbose=0),
        float(MSSSIMLoss()(target[:3], model.predict(noisy[:3], verbose=0))),
        rtol=0,
        atol=1e-5,
    )


def test_a_saved_model_loads_with_its_loss_parameters(tf, tmp_path):
    """``model.save`` and ``keras.models.load_model``: the loss comes back with
    its parameters (it came back with the defaults, max_val 1 for images in
    [0, 255]), without ``custom_objects``."""
    import keras

    from msssim.keras import MSSSIMLoss

    loss = MSSSIMLoss(255.0, (0.5, 0.5), 7, 1.2, 0.02, 0.04, numerics="tensorflow-cpu", reduction="sum")
    assert MSSSIMLoss.from_config(loss.get_config()).parameters_ == loss.parameters_
    inputs = keras.Input((64, 64, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    model.compile(optimizer="adam", loss=loss)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.loss, MSSSIMLoss) and loaded.loss.parameters_ == loss.parameters_
    assert loaded.loss.reduction == "sum"


def test_an_integer_target_against_a_float_prediction_is_refused_and_tensor_max_val_saves(tf, tmp_path):
    """Keras casts both to float32 before the loss sees them: a uint8 target
    (0-255) against a prediction in [0, 1] scored 0.9993, where msssim's
    functions refuse the pair. A tensor max_val saved as a tensor's config and
    failed after loading; bad parameters failed only at the first call."""
    import keras
    import pytest

    import msssim
    from msssim.keras import MSSSIMLoss

    rng = np.random.default_rng(1)
    target = rng.random((2, 170, 170, 3), dtype=np.float32)
    prediction = np.clip(target + 0.05, 0, 1)
    with pytest.raises(ValueError, match=r"img1 \(float32\) and img2 \(uint8\) have dtypes that are converted"):
        MSSSIMLoss()((target * 255).astype(np.uint8), prediction)
    both = MSSSIMLoss(max_val=255)((target * 255).astype(np.uint8), (prediction * 255).astype(np.uint8))
    want = 1 - msssim.ssim_multiscale((prediction * 255).astype(np.uint8), (target * 255).astype(np.uint8), 255)
    np.testing.assert_allclose(float(both), want.mean(), rtol=0, atol=1e-6)  # (uint8 alike: Keras' cast is harmless)
    for bad, message in (({"max_val": -1}, "max_val must be finite"), ({"numerics": "x"}, "numerics must be one")):
        with pytest.raises(ValueError, match=message):
            MSSSIMLoss(**bad)
    loss = MSSSIMLoss(max_val=tf.constant(255.0))
    inputs = keras.Input((64, 64, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    model.compile(optimizer="adam", loss=loss)
    model.save(tmp_path / "model.keras")
    assert keras.models.load_model(tmp_path / "model.keras").loss.parameters_.max_val == 255.0
