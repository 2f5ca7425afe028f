// Copyright shoal authors. Asio's compiled part, built once: every other
// file of node/ and cli/ includes Asio's headers with
// ASIO_SEPARATE_COMPILATION, which keeps their compile times down.
#include <asio/impl/src.hpp>
