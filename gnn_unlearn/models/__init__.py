"""Encoders, link decoders and task models."""
from gnn_unlearn.models.certified import Certificate, CertifiedLinear, train_certified
from gnn_unlearn.models.decoders import DotDecoder, MLPDecoder, make_decoder
from gnn_unlearn.models.encoders import ENCODERS, GNNEncoder, LayerHook, make_conv
from gnn_unlearn.models.linear import LinearGNN, PropagatedFeatures
from gnn_unlearn.models.predictors import (LinkPredictor, NodeClassifier, build_model, make_model,
                                           model_config, model_outputs)
from gnn_unlearn.models.scattering import ScatteringLinear, train_scattering

__all__ = ["GNNEncoder", "LayerHook", "ENCODERS", "make_conv", "DotDecoder", "MLPDecoder",
           "make_decoder", "LinkPredictor", "NodeClassifier", "build_model", "make_model",
           "model_config", "model_outputs", "CertifiedLinear", "Certificate", "train_certified",
           "LinearGNN", "PropagatedFeatures", "ScatteringLinear", "train_scattering"]
