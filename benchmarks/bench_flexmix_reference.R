# Best-of-NREP reference optima of R's flexmix for the maximum-likelihood
# mixture of Gaussian linear regressions with a multinomial-logit gate, on
# small real data sets. Used by `bench_flexmix.py --reference`.
#
#   Rscript benchmarks/bench_flexmix_reference.R OUTDIR [NREP]
#
# For each problem (data set, formula, K) it runs flexmix NREP times from
# its default random start (a random hard partition), with minprior = 0 (no
# component is removed), tolerance 1e-8 and iter.max 2000, and keeps the
# best total log-likelihood. It writes OUTDIR/<name>.csv (the columns used:
# x, y) for every data set and prints one line per problem:
#
#   REF <name> <K> <best logLik> <smallest component size> <smallest sigma> <runs that failed>
#
# (component size: the sum of the posterior probabilities).

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) stop("usage: Rscript bench_flexmix_reference.R OUTDIR [NREP]")
outdir <- args[1]
nrep <- if (length(args) >= 2) as.integer(args[2]) else 20L

suppressPackageStartupMessages({
  library(flexmix)
  library(MASS)
})
has_mixtools <- suppressWarnings(requireNamespace("mixtools", quietly = TRUE))

sets <- list(
  mcycle = list(df = MASS::mcycle, y = "accel", x = c("times"), K = 2:5),
  boston = list(df = MASS::Boston, y = "medv", x = c("lstat", "rm"), K = 2:4),
  faithful = list(df = datasets::faithful, y = "waiting", x = c("eruptions"), K = 2:3)
)
data("NPreg", package = "flexmix")
sets$npreg <- list(df = NPreg, y = "yn", x = c("x"), K = 2:3)
if (has_mixtools) {
  data("NOdata", package = "mixtools")
  data("CO2data", package = "mixtools")
  sets$nodata <- list(df = NOdata, y = "Equivalence", x = c("NO"), K = 2:3)
  sets$co2data <- list(df = CO2data, y = "CO2", x = c("GNP"), K = 2:3)
}

for (name in names(sets)) {
  s <- sets[[name]]
  df <- s$df[, c(s$x, s$y)]
  names(df) <- c(paste0("x", seq_along(s$x)), "y")
  write.csv(df, file.path(outdir, paste0(name, ".csv")), row.names = FALSE)
  xs <- paste0("x", seq_along(s$x))
  form <- as.formula(paste("y ~", paste(xs, collapse = " + ")))
  conc <- as.formula(paste("~", paste(xs, collapse = " + ")))
  for (K in s$K) {
    best <- -Inf; best_size <- NA; best_sigma <- NA; failed <- 0L
    for (r in seq_len(nrep)) {
      set.seed(1000L * K + r)
      fit <- tryCatch(
        flexmix(form, data = df, k = K, model = FLXMRglm(),
                concomitant = FLXPmultinom(conc),
                control = list(minprior = 0, tolerance = 1e-8, iter.max = 2000)),
        error = function(e) NULL)
      if (is.null(fit) || fit@k < K) { failed <- failed + 1L; next }
      ll <- as.numeric(logLik(fit))
      if (is.finite(ll) && ll > best) {
        best <- ll
        best_size <- min(colSums(posterior(fit)))
        best_sigma <- min(parameters(fit)["sigma", ])
      }
    }
    cat(sprintf("REF %s %d %.6f %.4f %.6g %d\n", name, K, best, best_size, best_sigma, failed))
  }
}
