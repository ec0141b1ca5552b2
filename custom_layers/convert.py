"""Whole-model conversion between the Keras built-ins and their custom twins.

``to_custom(model)`` rebuilds a model with every ``keras.layers.Dense`` and
``keras.layers.Conv2D`` replaced by ``custom_layers.Dense`` /
``custom_layers.Conv2D``: the same config, the same weights, so the same
predictions (up to float rounding: the twins evaluate the same formulas in
another order). ``to_builtin(model)`` is the reverse. Everything else in the
model is copied as it is.

What carries over, what does not:

- Layers: only the exact classes above are converted. A subclass of one of
  them (with its own ``call``, say), a layer without a twin, and layers
  *inside* other layers (``TimeDistributed(Dense(...))``, a user's
  composite layer) are copied unchanged, rebuilt from their config with their
  weights, like ``keras.models.clone_model`` does.
- Activations of converted layers: relu, linear, sigmoid, tanh and softmax are
  the same function in both worlds and switch sides with the layer. Any other
  activation is kept as the very same callable. In particular Keras'
  ``leaky_relu`` (negative_slope 0.2) is not the notes' ``leaky_relu``
  (α = 0.01), so its slope is never changed: the twin keeps Keras' function,
  and a saved model reloads with it (the twins resolve a plain activation name
  in a config as Keras' function).
- Compile state: the returned model is **not compiled**. An optimizer's state
  (step count, moments) belongs to the original model's variables, and a
  converted model may want other losses or optimizers: call ``compile``
  before ``fit``. The original model keeps its compile state.
- Model kinds: Sequential and functional models (built or not; nested
  Sequential/functional models, shared layers, several inputs and outputs;
  a functional subclass whose constructor takes ``(inputs, outputs)`` keeps its
  class). A subclassed model (its own ``call``) cannot be rebuilt from outside:
  a ``ValueError`` names it. Layers that cannot be rebuilt from their config
  (a ``Lambda`` wrapping a Python lambda) raise a ``ValueError`` naming them.

The input model is never modified: the result has its own layers and
variables (copies of the original's values), and the original's layers are
not called on new inputs.
"""

import inspect

import keras
from keras import ops

from custom_layers import activations
from custom_layers.layers import Conv2D, Dense

__all__ = ["to_builtin", "to_custom"]

# built-in layer class -> custom twin (exact classes only)
_LAYER_TWINS = {keras.layers.Dense: Dense, keras.layers.Conv2D: Conv2D}

# Keras activation -> the custom function computing the same g(z) with the same
# defaults. leaky_relu is absent on purpose: 0.2 (Keras) against 0.01 (notes).
_ACTIVATION_TWINS = activations.KERAS_TWINS


class _Direction:
    """Which layer classes and activations one conversion swaps."""

    def __init__(self, name, layers, activation_map):
        self.name = name
        self.layers = layers
        self.activations = activation_map


_TO_CUSTOM = _Direction("to_custom", _LAYER_TWINS, _ACTIVATION_TWINS)
_TO_BUILTIN = _Direction(
    "to_builtin",
    {twin: builtin for builtin, twin in _LAYER_TWINS.items()},
    {twin: builtin for builtin, twin in _ACTIVATION_TWINS.items()},
)


def to_custom(model):
    """Return a copy of ``model`` whose Keras ``Dense``/``Conv2D`` layers are
    ``custom_layers.Dense``/``custom_layers.Conv2D`` with the same config and
    weights.

    Each converted layer computes the notes' z = w·x + b (or the
    correlation sum) with the same W and b, then the same g: relu, linear,
    sigmoid, tanh and softmax become the custom functions; any other
    activation (Keras' ``leaky_relu`` with slope 0.2, ``gelu``, ...) is kept
    as Keras' function (see the module docstring for the one case where a
    layer then stays built-in).

    Args:
        model: a Sequential or functional ``keras.Model``, built or not
            (a model loaded from a ``.keras`` file is one of these).

    Returns:
        A new, **uncompiled** model of the same kind, name, inputs and
        outputs; ``model`` itself is unchanged.

    Raises:
        ValueError: ``model`` is not a Keras model, is a subclassed model
            (its own ``call``), or holds a layer that cannot be rebuilt from
            its config.

    Example:

    >>> builtin = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "relu")])
    >>> custom = custom_layers.to_custom(builtin)
    >>> type(custom.layers[0]).__module__
    'custom_layers.layers.dense'
    """
    return _convert_top(model, _TO_CUSTOM)


def to_builtin(model):
    """Return a copy of ``model`` whose ``custom_layers.Dense``/``Conv2D``
    layers are ``keras.layers.Dense``/``keras.layers.Conv2D`` with the same
    config and weights: the reverse of ``to_custom``.

    The custom relu, linear, sigmoid, tanh and softmax become Keras'
    functions; the notes' ``leaky_relu`` (α = 0.01, which no Keras function
    has as default) stays the custom function inside the built-in layer, so
    loading such a model still needs ``import custom_layers``. Note that
    Keras' sigmoid/softmax outputs carry their logits, which Keras' own
    cross-entropy losses then use (see ``keras-vs-notes``): predictions are
    the same, losses at saturation may differ.

    Args:
        model: a Sequential or functional ``keras.Model``, built or not.

    Returns:
        A new, **uncompiled** model; ``model`` itself is unchanged.

    Raises:
        ValueError: as for ``to_custom``.
    """
    return _convert_top(model, _TO_BUILTIN)


def _convert_top(model, direction):
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"Argument `model` of `{direction.name}` must be a Keras model "
            f"(Sequential or functional). Received: model={model!r}"
        )
    pairs = {}  # id(original) -> (original, clone), shared by nested models
    converted = _convert_model(model, direction, pairs)
    for original, clone in pairs.values():
        if isinstance(original, keras.layers.Layer) and not isinstance(original, keras.Model):
            _copy_weights(original, clone)
    return converted


def _is_functional(model):
    return any(
        cls.__name__ == "Functional" and cls.__module__.startswith("keras")
        for cls in type(model).__mro__
    )


def _convert_model(model, direction, pairs):
    if isinstance(model, keras.Sequential):
        return _convert_sequential(model, direction, pairs)
    if _is_functional(model):
        return _convert_functional(model, direction, pairs)
    raise ValueError(
        f"Cannot convert model '{model.name}' of class {type(model).__name__}: it is a "
        "subclassed model (its own `call`), whose layers and connections cannot be "
        "rebuilt from outside. Convert the layers where the class creates them, or build "
        f"it as a Sequential or functional model. Received: model={model.name!r}"
    )


def _convert_sequential(model, direction, pairs):
    layers = [_clone(layer, direction, pairs) for layer in model.layers]
    converted = keras.Sequential(name=model.name, trainable=model.trainable)
    try:
        inputs = model.inputs  # only a built Sequential has them
    except AttributeError:
        inputs = None
    if inputs:
        spec = inputs[0]
        converted.add(
            keras.Input(
                batch_shape=spec.shape,
                dtype=spec.dtype,
                sparse=spec.sparse,
                ragged=spec.ragged,
                name=spec.name,
            )
        )
    for layer in layers:
        converted.add(layer)
    return converted


def _convert_functional(model, direction, pairs):
    # ``clone_model`` copies the compile state of the model it is given; a
    # plain functional view of the same graph (not compiled, and whose
    # construction calls no layer) gives an uncompiled clone instead.
    view = keras.Model(model.input, model.output, name=model.name)
    # ``recursive=False``: nested models reach ``_clone`` too, which converts
    # them with the shared ``pairs`` (a layer shared across levels stays shared).
    clone = keras.models.clone_model(
        view, clone_function=lambda layer: _clone(layer, direction, pairs)
    )
    cls = type(model)
    if cls is not type(view):
        # A functional subclass (its own train_step, ...): rebuild its class.
        try:
            inspect.signature(cls.__init__).bind(None, clone.input, clone.output, name=model.name)
        except TypeError:
            raise ValueError(
                f"Cannot convert model '{model.name}': its class {cls.__name__} is a "
                "functional model whose constructor does not take (inputs, outputs), so "
                "it cannot be rebuilt around the converted layers. Convert "
                "keras.Model(model.input, model.output) instead (a plain functional "
                f"model). Received: model={model.name!r}"
            ) from None
        clone = cls(clone.input, clone.output, name=model.name)
    if not model.trainable:
        clone.trainable = False
        for original, new in zip(model.layers, clone.layers, strict=True):
            new.trainable = original.trainable
    return clone


def _clone(layer, direction, pairs):
    """The converted copy of one graph operation, made once per original."""
    key = id(layer)
    if key in pairs:
        return pairs[key][1]
    if isinstance(layer, keras.Model):
        new = _convert_model(layer, direction, pairs)
    elif isinstance(layer, keras.layers.Layer):
        new = _convert_layer(layer, direction)
    else:
        # A `keras.ops` call in a functional graph: stateless, rebuilt as Keras does.
        new = type(layer).from_config(layer.get_config())
    pairs[key] = (layer, new)
    return new


def _convert_layer(layer, direction):
    twin = direction.layers.get(type(layer))
    if twin is None:
        return _from_config(type(layer), layer.get_config(), layer)
    activation = layer.activation
    config = {**layer.get_config(), "activation": direction.activations.get(activation, activation)}
    return _from_config(twin, config, layer)


def _from_config(cls, config, original):
    try:
        new = cls.from_config(config)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Cannot rebuild layer '{original.name}' ({type(original).__name__}) as "
            f"{cls.__module__}.{cls.__name__} from its config: {error}"
        ) from error
    if original.built and not new.built:
        build_config = original.get_build_config()
        if build_config:
            new.build_from_config(build_config)
    return new


def _copy_weights(original, clone):
    old, new = original.weights, clone.weights
    shapes_old = [tuple(w.shape) for w in old]
    shapes_new = [tuple(w.shape) for w in new]
    if shapes_old != shapes_new:
        raise ValueError(
            f"Cannot copy the weights of layer '{original.name}' "
            f"({type(original).__name__}, weight shapes {shapes_old}) into its converted "
            f"{type(clone).__name__} (weight shapes {shapes_new})."
        )
    for source, target in zip(old, new, strict=True):
        target.assign(ops.copy(source.value))  # own buffer: JAX deletes donated ones
