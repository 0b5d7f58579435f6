"""LoRA / QLoRA fine-tuning of Granite Speech (peft + accelerate + bitsandbytes). See finetune/train.py."""
