# Fit a mixture of Gaussian linear regressions with a multinomial-logit
# concomitant (gate) model with R's flexmix, on a CSV written by
# bench_flexmix.py (columns x1..xd, y).
#
#   Rscript benchmarks/bench_flexmix.R DATA.csv K SEED OUTPREFIX
#
# Prints "FLEXMIX <key> <value>" lines (elapsed seconds of flexmix() only,
# log-likelihood, iterations, ...) and writes OUTPREFIX_expert.csv
# (rows: (Intercept), x1..xd, sigma; one column per component) and
# OUTPREFIX_gate.csv (rows: (Intercept), x1..xd; one column per component,
# the first one fixed at zero) so that the Python side can score the fit on
# held-out data with the same code as the other methods.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 4) stop("usage: Rscript bench_flexmix.R DATA.csv K SEED OUTPREFIX")
path <- args[1]
K <- as.integer(args[2])
seed <- as.integer(args[3])
outprefix <- args[4]

suppressPackageStartupMessages(library(flexmix))

df <- read.csv(path)
xs <- setdiff(names(df), "y")
conc <- as.formula(paste("~", paste(xs, collapse = " + ")))

set.seed(seed)
t0 <- proc.time()[["elapsed"]]
fit <- flexmix(
  y ~ ., data = df, k = K,
  model = FLXMRglm(family = "gaussian"),
  concomitant = FLXPmultinom(conc),
  # minprior = 0: keep all K components (the default 0.05 may drop some)
  control = list(iter.max = 200, minprior = 0)
)
elapsed <- proc.time()[["elapsed"]] - t0

ll <- as.numeric(logLik(fit))
cat("FLEXMIX elapsed", elapsed, "\n")
cat("FLEXMIX loglik", format(ll, digits = 17), "\n")
cat("FLEXMIX n", nrow(df), "\n")
cat("FLEXMIX k", fit@k, "\n")
cat("FLEXMIX iter", fit@iter, "\n")
cat("FLEXMIX converged", fit@converged, "\n")
cat("FLEXMIX version", as.character(packageVersion("flexmix")), "\n")
cat("FLEXMIX R", R.version.string, "\n")
blas <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "?")
cat("FLEXMIX blas", if (nzchar(blas)) blas else "?", "\n")

expert <- parameters(fit)
gate <- parameters(fit, which = "concomitant")
write.csv(expert, paste0(outprefix, "_expert.csv"))
write.csv(gate, paste0(outprefix, "_gate.csv"))
