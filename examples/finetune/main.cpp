// Fine-tunes a language model with zo::finetune (MeZO: zo-sgd, dense directions) for a few steps and
// prints what the run did.
//   zo_finetune MODEL_DIR TASK TRAIN_JSONL EVAL_JSONL OUT_DIR
// TASK is a task name (sst2, rte, …) or a JSON config file of `zo finetune` options, such as
// configs/spam.json (a custom task: its prompt template and label words).
#include <zo/train/finetune.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <string>

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s MODEL_DIR TASK|CONFIG_JSON TRAIN_JSONL EVAL_JSONL OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    zo::FinetuneOptions options;
    const std::string task = argv[2];
    if (task.ends_with(".json")) {
      std::ifstream in(task);
      if (!in) throw std::runtime_error("cannot read " + task);
      zo::apply_finetune_config(options, nlohmann::json::parse(in), task);
    } else {
      options.task = task;
    }
    options.model = argv[1];
    options.train = argv[3];
    options.eval = argv[4];
    options.out = argv[5];
    options.k = 32;           // training examples sampled
    options.eval_k = 32;      // evaluation examples sampled
    options.max_tokens = 128;  // the first 112 and the last 16 tokens of each prompt
    options.keep_last = 16;
    options.loss = "classification";
    options.steps = 5;
    options.batch = 4;
    options.lr = 1e-4;
    options.no_plots = true;

    const zo::FinetuneResult result = zo::finetune(options);
    const zo::TrainSummary& s = result.summary;
    std::printf("stopped: %s (%s)\n", std::string(zo::to_string(s.termination)).c_str(), s.message.c_str());
    std::printf("steps: %lld, loss evaluations: %lld, forward passes: %lld, trainable parameters: %lld\n",
                static_cast<long long>(s.steps), static_cast<long long>(s.evaluations),
                static_cast<long long>(result.forward_passes), static_cast<long long>(result.trainable_parameters));
    std::printf("training: %.2f s, evaluation: %.2f s, peak RSS: %.0f MB\n", s.seconds, s.eval_seconds,
                result.peak_rss_mb);
    if (!s.losses.empty()) std::printf("loss: first step %.4f, last step %.4f\n", s.losses.front(), s.losses.back());
    if (result.first_eval && result.last_eval)
      std::printf("eval accuracy: %.3f -> %.3f, eval loss: %.4f -> %.4f (%lld examples)\n", result.first_eval->accuracy,
                  result.last_eval->accuracy, result.first_eval->loss, result.last_eval->loss,
                  static_cast<long long>(result.last_eval->examples));
    std::printf("files under %s: %zu\n", options.out.c_str(), result.files.size());
    return s.termination == zo::Termination::max_steps ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zo_finetune: %s\n", e.what());
    return 1;
  }
}
