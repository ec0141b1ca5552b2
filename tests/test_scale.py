"""Past one device and past float32: custom objects under MirroredStrategy
(2 logical CPUs) and under mixed-precision policies."""

import textwrap

import keras
import numpy as np
import pytest

import custom_layers
from tests.helpers import run_in_fresh_python


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"], indirect=True)
def test_mixed_precision_policies(policy):
    compute = policy.split("_")[1]
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            custom_layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            custom_layers.Dense(16, activation="relu"),
            custom_layers.Dense(3, dtype="float32"),  # keep the logits in float32
        ]
    )
    for layer in (model.layers[0], model.layers[2]):
        assert layer.compute_dtype == compute
        assert all(v.dtype == "float32" for v in layer.weights)  # float32 variables
    x = np.random.default_rng(0).random((64, 8, 8, 1), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 3, 64)
    assert model.layers[0](x).dtype == compute
    loss = custom_layers.SparseCategoricalCrossentropy(from_logits=True)
    assert loss(y, model(x)).dtype == "float32"
    model.compile(optimizer=custom_layers.Adam(0.01), loss=loss)
    history = model.fit(x, y, epochs=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < 0.9 * history[0]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"], indirect=True)
def test_mixed_precision_matches_the_builtin_layers(policy):
    import ml_dtypes

    compute = policy.split("_")[1]
    # the rounding of one value in the compute dtype: a product computed in
    # a lower precision than the built-in's fails these tolerances
    eps = float(ml_dtypes.finfo(np.float16 if compute == "float16" else ml_dtypes.bfloat16).eps)
    x = np.random.default_rng(2).random((4, 9, 9, 3), dtype=np.float32)
    bias = keras.initializers.RandomNormal(stddev=0.5, seed=3)  # a bias that shows
    for custom, builtin in [
        (
            custom_layers.Conv2D(5, 3, strides=2, padding="same", bias_initializer=bias),
            keras.layers.Conv2D(5, 3, 2, "same"),
        ),
        (custom_layers.Dense(6, bias_initializer=bias), keras.layers.Dense(6)),
    ]:
        custom.build(x.shape)
        builtin.build(x.shape)
        builtin.set_weights(custom.get_weights())
        assert np.abs(custom.get_weights()[1]).max() > 0.1
        ours, theirs = custom(x), builtin(x)
        assert ours.dtype == theirs.dtype == compute
        ours, theirs = (np.asarray(keras.ops.cast(t, "float32")) for t in (ours, theirs))
        scale = float(np.abs(theirs).max())
        np.testing.assert_allclose(ours, theirs, rtol=2 * eps, atol=2 * eps * scale)


# The small model both two-device tests train, first on one device; their
# scripts then train it again split over two devices and compare weights.
_ONE_DEVICE_RUN = """
def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        C.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        C.Dense(8, activation="tanh"),
        C.Dense(3),
    ])
    model.compile(optimizer=C.Adam(0.01),
                  loss=C.SparseCategoricalCrossentropy(from_logits=True))
    return model

rng = np.random.default_rng(0)
x = rng.random((64, 8, 8, 1), dtype=np.float32)
y = rng.integers(0, 3, 64)
single = build()
single.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
"""


@pytest.mark.slow  # a fresh Python process
@pytest.mark.tensorflow_only  # tf.distribute
def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(data_dir):
    # Two logical CPUs must be set before TensorFlow starts: one fresh process
    # (5-8 s of start-up on 2 cores) for the small model above and for a
    # recipe's `--distribute mirrored`, both under the recipes' one strategy
    # (a second MirroredStrategy in the process would break the first's
    # all-reduces).
    script = """
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import numpy as np, keras, custom_layers as C
        from recipes import distributed, multiclass_classification

{one_device}        strategy = distributed.mirrored_strategy()
        assert strategy.num_replicas_in_sync == 2
        assert set(strategy.extended.worker_devices) == {
            "/job:localhost/replica:0/task:0/device:CPU:0",
            "/job:localhost/replica:0/task:0/device:CPU:1",
        }
        with strategy.scope():
            mirrored = build()
        mirrored.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
        diff = max(float(np.abs(a - b).max())
                   for a, b in zip(single.get_weights(), mirrored.get_weights()))
        assert diff <= 1e-5, diff
        print("mirrored-ok", diff)

        # Both twins of the multi-class recipe, on one device and mirrored,
        # in batches of 127 (12 steps per epoch): every batch splits unevenly,
        # 64 + 63, as Keras' shape probe used to fail on. The recipe's sample
        # weights keep the gradient the one-device one; the losses differ by
        # float32 sums taken in another order (measured: 5e-5 relative at
        # most, 3e-5 in batches of 128, 2e-5 in batches of 32).
        base = ["--quiet", "--epochs", "2", "--batch-size", "127", "--data-dir", DATA_DIR]
        single_rows = multiclass_classification.main(base)["rows"]
        mirrored_rows = multiclass_classification.main([*base, "--distribute", "mirrored"])["rows"]
        assert distributed.mirrored_strategy() is strategy
        for impl in ("custom", "builtin"):
            a = np.array(single_rows[impl].history["loss"])
            b = np.array(mirrored_rows[impl].history["loss"])
            assert a.shape == b.shape and np.all(np.abs(a - b) <= 2e-4 * a), (a, b)
        print("mirrored-recipes-ok")
        """
    script = script.replace("{one_device}", textwrap.indent(_ONE_DEVICE_RUN, " " * 8))
    script = script.replace("DATA_DIR", repr(data_dir))
    run_in_fresh_python(script, "mirrored-recipes-ok", backend="tensorflow")


@pytest.mark.slow  # a fresh Python process
@pytest.mark.jax_only  # keras.distribution, which runs on JAX
def test_data_parallel_on_two_cpu_devices_matches_one_device():
    # JAX's counterpart of MirroredStrategy: keras.distribution.DataParallel
    # over two host devices; each batch is split, the gradients averaged.
    script = """
        import numpy as np, jax, keras, custom_layers as C
        assert len(jax.devices()) == 2

{one_device}        keras.distribution.set_distribution(keras.distribution.DataParallel())
        parallel = build()
        parallel.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
        kernel = parallel.layers[0].kernel.value
        assert len(kernel.sharding.device_set) == 2  # replicated on both devices
        diff = max(float(np.abs(a - b).max())
                   for a, b in zip(single.get_weights(), parallel.get_weights()))
        assert diff <= 1e-5, diff
        print("data-parallel-ok", diff)
        """.replace("{one_device}", textwrap.indent(_ONE_DEVICE_RUN, " " * 8))
    run_in_fresh_python(
        script,
        "data-parallel-ok",
        backend="jax",
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
