import { describe, expect, it } from 'vitest';
import { convertClosed, extractAlternatives, normalizeAnswer } from '../../src/data/closed';

describe('closed questions -> multiple choice', () => {
  it('yes/no gold: A Yes, B No, gold matched ignoring case', () => {
    for (const [gold, label] of [
      ['yes', 'A'],
      ['Yes', 'A'],
      ['YES', 'A'],
      ['no', 'B'],
      [' No ', 'B'],
      ['No.', 'B'],
    ]) {
      const c = convertClosed('Is there a fracture?', gold);
      expect(c, gold).toEqual({
        ok: true,
        kind: 'yes/no',
        options: { A: 'Yes', B: 'No' },
        answer_label: label,
        answer: label === 'A' ? 'Yes' : 'No',
        match: 'exact',
      });
    }
  });

  it('reads alternatives from the question by rule', () => {
    const cases: [string, string[]][] = [
      ['Which organ is abnormal, heart or lung?', ['Heart', 'Lung']],
      ['Is this a CT or an MRI?', ['CT', 'MRI']],
      ['Which is the biggest in this image, lung, liver or heart?', ['Lung', 'Liver', 'Heart']],
      ['Which is the biggest in this image,lung,liver or heart?', ['Lung', 'Liver', 'Heart']],
      ['Which is the biggest in this image, spleen,lung, or liver?', ['Spleen', 'Lung', 'Liver']],
      ['Is this an MRI or a CT scan?', ['MRI', 'CT']],
      ['Is the lesion on the left or right side of the brain?', ['Left', 'Right']],
      ['Is the heart size in this image smaller or larger than if the image was taken AP?', ['Smaller', 'Larger']],
      ['Are pleural opacities located on the left, right, or both sides of the lung?', ['Left', 'Right', 'Both']],
      ['Is this a T1 weighted, T2 weighted, or FLAIR image?', ['T1 weighted', 'T2 weighted', 'FLAIR']],
      ['Was a CT or MRI used to take the above image?', ['CT', 'MRI']],
      ["Is the colon more prominent on the patient's right or left side?", ['Right', 'Left']],
      ['Where is the heart in this image,left,top or upper left?', ['Left', 'Top', 'Upper left']],
      ['Which plane is the image scanned, transverse plane or coronal plane?', ['Transverse plane', 'Coronal plane']],
      ['Is this a T1 weighted image or a T2 weighted image?', ['T1 weighted', 'T2 weighted']],
      ['Was this image taken with or without contrast?', ['With contrast', 'Without contrast']],
      ['Is this a pneumonia vs. pleural effusion?', ['Pneumonia', 'Pleural effusion']],
      ["Is free air present under the patient's left or right hemidiaphragm?", ['Left', 'Right hemidiaphragm']],
    ];
    for (const [q, want] of cases) expect(extractAlternatives(q), q).toEqual(want);
  });

  it('questions that offer no alternatives give null', () => {
    expect(extractAlternatives('What organ is shown?')).toBe(null);
    expect(extractAlternatives('Is this the heart or the heart?')).toBe(null);
    expect(extractAlternatives('Which is it, or?')).toBe(null);
  });

  it('gold matched to an option exactly (ignoring case, articles, shared nouns, hyphens) or by leading words', () => {
    expect(convertClosed('Which organ is abnormal, heart or lung?', 'Lung')).toMatchObject({ ok: true, answer_label: 'B', answer: 'Lung', match: 'exact' });
    expect(convertClosed('Is the gastric bubble shown on the left or right side of the patient?', 'Right side')).toMatchObject({
      ok: true,
      options: { A: 'Left', B: 'Right' },
      answer_label: 'B',
      match: 'exact',
    });
    expect(convertClosed('Is the CSF enhanced or non enhanced?', 'Non-enhanced')).toMatchObject({ ok: true, answer_label: 'B' });
    expect(convertClosed('Is the abnormality hyper dense or hypo dense?', 'Hypodense')).toMatchObject({ ok: true, answer_label: 'B' });
    expect(convertClosed('Is this a T1 weighted or T2 weighted MRI image?', 'T2')).toMatchObject({
      ok: true,
      options: { A: 'T1 weighted', B: 'T2 weighted' },
      answer_label: 'B',
      answer: 'T2 weighted',
      match: 'prefix',
    });
  });

  it('an ambiguous leading-words match is not a match', () => {
    const c = convertClosed('Is it left upper or left lower?', 'Left');
    expect(c.ok).toBe(false);
  });

  it('drops (with the reason and the options) an item whose gold is not among the options', () => {
    const c = convertClosed('Which is bigger in this image, kidney or spleen?', 'Liver');
    expect(c).toEqual({ ok: false, reason: 'gold answer "Liver" is not among the options [Kidney | Spleen]', alternatives: ['Kidney', 'Spleen'] });
    const d = convertClosed('In which lobe are the lesions?', 'Bilateral frontal lobes');
    expect(d.ok).toBe(false);
    expect(!d.ok && d.reason).toMatch(/not yes\/no and no "X or Y" alternatives/);
    expect(convertClosed('Is this normal?', '').ok).toBe(false);
  });

  it('numeric gold answers are read as text', () => {
    expect(convertClosed('How many lesions, 1 or 2?', 2)).toMatchObject({ ok: true, options: { A: '1', B: '2' }, answer_label: 'B', match: 'exact' });
    expect(convertClosed('Are there 1 or 2 lesions?', 2)).toMatchObject({ ok: true, options: { A: '1', B: '2 lesions' }, answer_label: 'B', match: 'prefix' });
  });

  it('normalizeAnswer', () => {
    expect(normalizeAnswer('The Right Side.')).toBe('right');
    expect(normalizeAnswer('X-Ray')).toBe('x ray');
    expect(normalizeAnswer('CT scan')).toBe('ct');
  });
});
