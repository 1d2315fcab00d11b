"""Multi-label metrics against hand-computed values, eagerly and in evaluate."""

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

from graph_models.tasks import multilabel_metrics as mm

# Three images, four labels; the last image has no true label.
AT_K_TRUE = [[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
AT_K_SCORES = [[.9, .8, .1, .3],  # ranks labels 0, 1, 3, 2
               [.2, .5, .7, .6],  # ranks labels 2, 3, 1, 0
               [.5, .4, .3, .2]]  # ranks labels 0, 1, 2, 3
AT_K_EXPECTED = {
    # Hits in the top k per image, then precision, recall, accuracy.
    # k=1: hits 1, 0, 0.
    1: {mm.PrecisionAtK: (1 + 0 + 0) / 3,
        mm.RecallAtK: (1 / 2 + 0 / 1) / 2,  # the empty image is skipped
        mm.AccuracyAtK: (1 + 0 + 0) / 3},
    # k=2: hits 1, 0, 0.
    2: {mm.PrecisionAtK: (1 / 2 + 0 / 2 + 0 / 2) / 3,
        mm.RecallAtK: (1 / 2 + 0 / 1) / 2,
        mm.AccuracyAtK: (1 + 0 + 0) / 3},
    # k=3: hits 1, 1, 0.
    3: {mm.PrecisionAtK: (1 / 3 + 1 / 3 + 0 / 3) / 3,
        mm.RecallAtK: (1 / 2 + 1 / 1) / 2,
        mm.AccuracyAtK: (1 + 1 + 0) / 3},
}

# Four images, three labels; image 3 has no true label, label 2 no positive.
MAP_TRUE = [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]]
MAP_SCORES = [[.8, .3, .5], [.4, .6, .7], [.4, .6, .1], [.1, .2, .9]]
# Per label, precision at each positive image over the images scoring at
# least as much (ties pessimistic):
#   label 0 ranks .8 (i0+), .4 (i1-, i2+ tied), .1: AP = (1/1 + 2/3) / 2
#   label 1 ranks .6 (i1+, i2+ tied), .3, .2: AP = (2/2 + 2/2) / 2 = 1
#   label 2 has no positive: excluded.
LABEL_MAP = (5 / 6 + 1) / 2
# Per image: i0 ranks its true label 0 first: AP 1; i1's label 1 (.6) comes
# after label 2 (.7): AP 1/2; i2 ranks its labels 1, 0 first: AP 1; i3 has no
# true label: excluded.
IMAGE_MAP = (1 + 1 / 2 + 1) / 3

# Three images, three labels, for the top-k counts and micro F1.
F1_TRUE = [[1, 0, 1], [0, 1, 0], [1, 0, 0]]
F1_SCORES = [[.9, .1, .5], [.7, .6, .1], [.2, .8, .3]]
F1_EXPECTED = {
    # Top 1: labels 0, 0, 1. Per label (predicted, correct, true):
    # (2, 1, 2), (1, 0, 1), (0, 0, 1).
    1: {"CP": (1 / 2 + 0 / 1 + 0) / 3,  # label 2 never predicted: 0/0 = 0
        "CR": (1 / 2 + 0 / 1 + 0 / 1) / 3,
        "CF1": 2 * (1 / 6) * (1 / 6) / (1 / 6 + 1 / 6),
        "OP": 1 / 3, "OR": 1 / 4,
        "OF1": 2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4)},  # 2/7
    # Top 2: labels {0, 2}, {0, 1}, {1, 2}. Per label: (2, 1, 2), (2, 1, 1),
    # (2, 1, 1).
    2: {"CP": (1 / 2 + 1 / 2 + 1 / 2) / 3,
        "CR": (1 / 2 + 1 / 1 + 1 / 1) / 3,  # 5/6
        "CF1": 2 * (1 / 2) * (5 / 6) / (1 / 2 + 5 / 6),  # 5/8
        "OP": 3 / 6, "OR": 3 / 4,
        "OF1": 2 * (1 / 2) * (3 / 4) / (1 / 2 + 3 / 4)},  # 3/5
}
# Logits; sigmoid >= 0.5 where logit >= 0, so the 0.0 is predicted.
F1_LOGITS = [[2., -1., 0.], [.5, -.5, -2.], [-1., 1., -3.]]


def result_of(metric, y_true, y_pred, sample_weight=None):
  metric.update_state(tf.constant(y_true, tf.float32),
                      tf.constant(y_pred, tf.float32), sample_weight)
  result = metric.result()
  if isinstance(result, dict):
    return {key: float(value) for key, value in result.items()}
  return float(result)


def test_docstring_examples():
  assert doctest.testmod(mm).failed == 0


@pytest.mark.parametrize("k", sorted(AT_K_EXPECTED))
@pytest.mark.parametrize("cls", [mm.PrecisionAtK, mm.RecallAtK,
                                 mm.AccuracyAtK])
def test_at_k_metrics(cls, k):
  metric = cls(k)
  assert result_of(metric, AT_K_TRUE, AT_K_SCORES) == pytest.approx(
      AT_K_EXPECTED[k][cls])
  assert metric.num_empty_images == 1
  metric.reset_state()
  assert float(metric.result()) == 0
  assert metric.num_empty_images == 0


@pytest.mark.parametrize("y_true, expected", [
    # Top 2 of three tied labels are the two lowest indices: 0 and 1.
    ([[0, 0, 1, 0]], {mm.PrecisionAtK: 0, mm.RecallAtK: 0,
                      mm.AccuracyAtK: 0}),
    ([[0, 1, 0, 0]], {mm.PrecisionAtK: 1 / 2, mm.RecallAtK: 1,
                      mm.AccuracyAtK: 1}),
])
def test_at_k_ties_go_to_the_lower_label_index(y_true, expected):
  for cls, value in expected.items():
    assert result_of(cls(2), y_true, [[.5, .5, .5, .1]]) == value


def test_at_k_weights_images():
  weights = tf.constant([2., 1., 1.])
  # k=1 hits: 1, 0, 0.
  assert result_of(mm.PrecisionAtK(1), AT_K_TRUE, AT_K_SCORES,
                   weights) == pytest.approx((2 * 1 + 1 * 0 + 1 * 0) / 4)
  # Recall skips the empty image and its weight.
  assert result_of(mm.RecallAtK(1), AT_K_TRUE, AT_K_SCORES,
                   weights) == pytest.approx((2 * 1 / 2 + 1 * 0) / 3)


def test_average_precision_ties_are_pessimistic():
  relevant = tf.constant([[0, 1, 0, 1],
                          [1, 1, 0, 0],
                          [1, 0, 0, 0],
                          [0, 0, 0, 0]], tf.float32)
  scores = tf.constant([[.9, .5, .5, .1],
                        [.5, .5, .2, 0.],
                        [.5, .5, .1, .1],
                        [.4, .3, .2, .1]])
  expected = [
      # Label 1 (.5) ties with a negative: 1 hit among 3 scoring >= .5;
      # label 3 (.1): 2 hits among 4.
      (1 / 3 + 2 / 4) / 2,
      # Two positives tied: 2 hits among 2 for both.
      (2 / 2 + 2 / 2) / 2,
      # A positive tied with a negative: 1 hit among 2, not 1 among 1.
      1 / 2,
      # No relevant item: 0, and flagged.
      0]
  for order in (slice(None), slice(None, None, -1)):  # order independent
    ap, has_relevant = mm.average_precision(
        relevant[:, order], scores[:, order], tf.ones_like(scores))
    np.testing.assert_allclose(ap, expected, rtol=1e-6)
    np.testing.assert_array_equal(has_relevant, [True, True, True, False])


def test_image_mean_average_precision():
  metric = mm.MeanAveragePrecision()
  metric.update_state(MAP_TRUE[:2], MAP_SCORES[:2])  # in two batches
  assert result_of(metric, MAP_TRUE[2:], MAP_SCORES[2:]) == pytest.approx(
      IMAGE_MAP)
  assert metric.num_excluded == 1  # image 3
  assert metric.result_dict() == {"map": pytest.approx(IMAGE_MAP),
                                  "num_excluded": 1}
  metric.reset_state()
  assert float(metric.result()) == 0
  assert metric.num_excluded == 0
  assert result_of(metric, MAP_TRUE, MAP_SCORES) == pytest.approx(IMAGE_MAP)


def test_label_mean_average_precision_ranks_all_images():
  assert mm.label_mean_average_precision(MAP_TRUE, MAP_SCORES) == {
      "map": pytest.approx(LABEL_MAP), "num_excluded": 1}  # label 2
  ap, has_positive = mm.label_average_precision(MAP_TRUE, MAP_SCORES)
  assert not has_positive[2] and ap[2] == 0
  assert ap[has_positive].mean() == pytest.approx(LABEL_MAP)
  with pytest.raises(ValueError, match="must be \\[images, labels\\]"):
    mm.label_average_precision(MAP_TRUE, np.zeros((4, 2)))
  with pytest.raises(ValueError, match="3 values for 4 images"):
    mm.label_average_precision(MAP_TRUE, MAP_SCORES, [1., 1., 1.])


def test_per_label_map_is_no_streaming_metric():
  with pytest.raises(ValueError, match="label_mean_average_precision"):
    mm.MeanAveragePrecision("label")


WEIGHTS = [1., 2., 1., 1.]


def test_mean_average_precision_weights_images():
  # Weights 1, 2, 1, 1 for images 0-3. Label 0: at i0 1/1; at i2 the
  # images scoring >= .4 weigh 1 + 2 + 1, of which positive 1 + 1:
  # AP = (1 * 1 + 1 * 2/4) / (1 + 1). Label 1: tied at the top, AP 1.
  assert mm.label_mean_average_precision(
      MAP_TRUE, MAP_SCORES, WEIGHTS)["map"] == pytest.approx((0.75 + 1) / 2)
  # Image APs 1, 1/2, 1 weighted 1, 2, 1.
  assert result_of(mm.MeanAveragePrecision(), MAP_TRUE, MAP_SCORES,
                   tf.constant(WEIGHTS)) == pytest.approx(
                       (1 * 1 + 2 * 1 / 2 + 1 * 1) / 4)


@pytest.mark.parametrize("k", sorted(F1_EXPECTED))
def test_top_k_precision_recall_f1(k):
  metric = mm.TopKPrecisionRecallF1(k)
  expected = {f"top_{k}_{stat}": pytest.approx(value)
              for stat, value in F1_EXPECTED[k].items()}
  assert result_of(metric, F1_TRUE, F1_SCORES) == expected
  metric.reset_state()
  assert set(result_of(metric, [[0, 0, 0]], [[1, 2, 3]]).values()) == {0}


@pytest.mark.parametrize("kwargs, y_pred, expected", [
    # Logit >= 0: {0, 2}, {0}, {1}. TP 2, FP 2, FN 2.
    ({}, F1_LOGITS, 2 * 2 / (2 * 2 + 2 + 2)),
    # Top 1: {0}, {0}, {1}. TP 1, FP 2, FN 3; the OF1 of top 1 above.
    (dict(top_k=1), F1_LOGITS, 2 * 1 / (2 * 1 + 2 + 3)),
    # Probability >= .5: {0, 2}, {0, 1}, {1}. TP 3, FP 2, FN 1.
    (dict(from_logits=False), F1_SCORES, 2 * 3 / (2 * 3 + 2 + 1)),
    # Probability >= .75: {0}, {}, {1}. TP 1, FP 1, FN 3.
    (dict(threshold=.75, from_logits=False), F1_SCORES,
     2 * 1 / (2 * 1 + 1 + 3)),
])
def test_micro_f1(kwargs, y_pred, expected):
  assert result_of(mm.MicroF1(**kwargs), F1_TRUE, y_pred) == pytest.approx(
      expected)


@pytest.mark.parametrize("make, y_true, y_pred, expected", [
    (lambda: mm.PrecisionAtK(2), AT_K_TRUE, AT_K_SCORES,
     {"precision_at_2": AT_K_EXPECTED[2][mm.PrecisionAtK]}),
    (lambda: mm.RecallAtK(3), AT_K_TRUE, AT_K_SCORES,
     {"recall_at_3": AT_K_EXPECTED[3][mm.RecallAtK]}),
    (lambda: mm.AccuracyAtK(3), AT_K_TRUE, AT_K_SCORES,
     {"accuracy_at_3": AT_K_EXPECTED[3][mm.AccuracyAtK]}),
    (lambda: mm.MeanAveragePrecision("image"), MAP_TRUE, MAP_SCORES,
     {"image_map": IMAGE_MAP}),
    (lambda: mm.TopKPrecisionRecallF1(2), F1_TRUE, F1_SCORES,
     {f"top_2_{stat}": value for stat, value in F1_EXPECTED[2].items()}),
    (lambda: mm.MicroF1(), F1_TRUE, F1_LOGITS, {"micro_f1": 0.5}),
], ids=["precision", "recall", "accuracy", "image_map", "top_k", "micro_f1"])
def test_metrics_accumulate_in_model_evaluate(make, y_true, y_pred,
                                              expected):
  y_pred = np.array(y_pred, np.float32)
  model = keras.Sequential([keras.Input(y_pred.shape[1:]),
                            keras.layers.Identity()])
  model.compile(loss="mse", metrics=[make()], jit_compile=False)
  # Batches of 2 leave a smaller last batch; steps run as tf.functions.
  logs = model.evaluate(y_pred, np.array(y_true, np.float32), batch_size=2,
                        return_dict=True, verbose=0)
  assert not model.run_eagerly
  assert {key: logs[key] for key in expected} == pytest.approx(expected)


@pytest.mark.parametrize("metric", [
    mm.PrecisionAtK(2, num_labels=5), mm.RecallAtK(3, name="r3"),
    mm.AccuracyAtK(1), mm.MeanAveragePrecision("image"),
    mm.MeanAveragePrecision(num_labels=7), mm.TopKPrecisionRecallF1(),
    mm.MicroF1(threshold=.3, from_logits=False),
    mm.MicroF1(top_k=2, num_labels=4)], ids=lambda m: m.name)
def test_config_round_trip(metric):
  config = metric.get_config()
  assert type(metric).from_config(config).get_config() == config
  restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
  assert type(restored) is type(metric)
  assert restored.get_config() == config


WITH_K = {
    "precision": mm.PrecisionAtK, "recall": mm.RecallAtK,
    "accuracy": mm.AccuracyAtK, "top_k": mm.TopKPrecisionRecallF1,
    "micro_f1": lambda k, **kwargs: mm.MicroF1(top_k=k, **kwargs)}
RANKING = ("precision", "recall", "accuracy")
UNKNOWN_SHAPE = [tf.TensorSpec([None, None])] * 2


@pytest.mark.parametrize("name", sorted(WITH_K))
def test_k_must_be_a_positive_integer(name):
  for k in (0, -1, 1.5, True):
    with pytest.raises(ValueError, match="k must be a positive integer"):
      WITH_K[name](k)


@pytest.mark.parametrize("name", sorted(WITH_K))
def test_k_above_the_label_count_is_refused(name):
  with pytest.raises(ValueError, match=r"k=5 exceeds the number of labels "
                     r"\(num_labels=4\)"):
    WITH_K[name](5, num_labels=4)
  with pytest.raises(ValueError, match=r"k=5 exceeds the number of labels "
                     r"in y_pred \(4\)"):
    WITH_K[name](5).update_state(tf.zeros([2, 4]), tf.zeros([2, 4]))


@pytest.mark.parametrize("name", RANKING)
def test_k_above_a_label_count_unknown_when_tracing_fails_the_step(name):
  update = tf.function(WITH_K[name](5).update_state,
                       input_signature=UNKNOWN_SHAPE)
  with pytest.raises(tf.errors.InvalidArgumentError, match="k=5 exceeds"):
    update(tf.zeros([2, 4]), tf.zeros([2, 4]))


@pytest.mark.parametrize("name", ["top_k", "micro_f1"])
def test_per_label_counts_need_a_known_label_count(name):
  with pytest.raises(ValueError, match="pass num_labels"):
    tf.function(WITH_K[name](1).update_state,
                input_signature=UNKNOWN_SHAPE).get_concrete_function()
  metric = WITH_K[name](1)
  metric.update_state(tf.zeros([1, 3]), tf.zeros([1, 3]))
  with pytest.raises(ValueError, match="has seen 3 labels, got 4"):
    metric.update_state(tf.zeros([1, 4]), tf.zeros([1, 4]))


ALL = {**{name: lambda make=make: make(1) for name, make in WITH_K.items()},
       "image_map": lambda: mm.MeanAveragePrecision("image")}


@pytest.mark.parametrize("name", sorted(ALL))
def test_shape_mismatch_is_refused(name):
  with pytest.raises(ValueError, match=r"y_true has shape \(2, 3\) but "
                     r"y_pred has shape \(2, 4\)"):
    ALL[name]().update_state(tf.zeros([2, 3]), tf.zeros([2, 4]))
  with pytest.raises(ValueError, match="expects y_pred of shape"):
    ALL[name]().update_state(tf.zeros([2]), tf.zeros([2]))
  if name in ("top_k", "micro_f1"):
    return  # they need the label count when tracing (tested above)
  update = tf.function(ALL[name]().update_state,
                       input_signature=UNKNOWN_SHAPE)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="y_true and y_pred must have the same shape"):
    update(tf.zeros([2, 3]), tf.zeros([2, 4]))


def test_label_count_is_checked_against_num_labels():
  with pytest.raises(ValueError, match="built for num_labels=3, got y_pred "
                     "with 4 labels"):
    mm.PrecisionAtK(2, num_labels=3).update_state(tf.zeros([1, 4]),
                                                  tf.zeros([1, 4]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="pairs"), "mode must be 'image'"),
    (dict(num_labels=0), "num_labels must be a positive integer"),
])
def test_bad_map_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    mm.MeanAveragePrecision(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(threshold=.5, top_k=2), "a threshold or a top_k, not both"),
    (dict(threshold=1.5), r"threshold must be in \(0, 1\)"),
])
def test_bad_micro_f1_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    mm.MicroF1(**kwargs)


@pytest.mark.parametrize("k", [1, 3])
def test_precision_at_k_is_keras_precision_over_the_top_k(k):
  rng = np.random.default_rng(k)
  y_true = (rng.random((64, 10)) < 0.3).astype(np.float32)
  scores = rng.normal(size=(64, 10)).astype(np.float32)
  weights = rng.random(64).astype(np.float32)
  ours, theirs = mm.PrecisionAtK(k), keras.metrics.Precision(top_k=k)
  for metric in (ours, theirs):
    metric.update_state(y_true, scores, sample_weight=weights)
  assert float(ours.result()) == pytest.approx(float(theirs.result()),
                                               rel=1e-6)
