import { InvalidArgumentError } from 'commander';

/** `--previous-valid <seconds>`: how long a rotated secret stays accepted. */
export const previousValid = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 604_800)
    throw new InvalidArgumentError('expected 1-604800 seconds');
  return Number(v);
};
